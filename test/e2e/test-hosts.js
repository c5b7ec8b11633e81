// Preloaded (NODE_OPTIONS=--require) into the real `artifact-gateway` command the end-to-end suite
// runs: the test names (*.agw.test, localhost) resolve to 127.0.0.1, as --host-resolver-rules
// makes them for Chromium, so the command reaches nginx by name (SNI, Host) like any client.
'use strict';
const dns = require('node:dns');

const original = dns.lookup;
dns.lookup = function lookup(hostname, options, callback) {
  if (typeof hostname === 'string' && (hostname.endsWith('.agw.test') || hostname === 'localhost')) {
    const cb = typeof options === 'function' ? options : callback;
    const all = typeof options === 'object' && options !== null && options.all;
    process.nextTick(() => (all ? cb(null, [{ address: '127.0.0.1', family: 4 }]) : cb(null, '127.0.0.1', 4)));
    return {};
  }
  return original.apply(this, arguments);
};
