import { createHostResolver } from '../src/hosts';
import { makeConfig } from './support/make-config';

describe('host resolution', () => {
  const prod = createHostResolver(makeConfig({ PUBLIC_URL: 'https://artifacts.example.com', ARTIFACT_DOMAIN: 'example-artifacts.net' }));
  const dev = createHostResolver(makeConfig({}));

  it.each([
    ['artifacts.example.com', { kind: 'api' }],
    ['artifacts.example.com:443', { kind: 'api' }],
    ['ARTIFACTS.Example.COM', { kind: 'api' }],
    ['acme-web-k3j9x2.example-artifacts.net', { kind: 'artifact', label: 'acme-web-k3j9x2' }],
    ['Acme-Web-K3J9X2.example-artifacts.net', { kind: 'artifact', label: 'acme-web-k3j9x2' }],
  ])('resolves %j in production', (host, expected) => {
    expect(prod.resolve(host)).toEqual(expected);
  });

  it.each([
    [undefined, /no Host header/],
    ['', /no Host header/],
    ['artifacts.example.com.', /not a host/],
    ['acme.example-artifacts.net.', /not a host/],
    ['artifacts.example.com:8443', /unexpected port/],
    ['acme.example-artifacts.net:80', /unexpected port/],
    ['example-artifacts.net', /not a host/],
    ['a.b.example-artifacts.net', /not a host/],
    ['-acme.example-artifacts.net', /not a host/],
    ['acme_x.example-artifacts.net', /not a host/],
    ['evil.com', /not a host/],
    ['127.0.0.1', /not a host/],
    ['[::1]', /malformed/],
    ['artifacts.example.com@evil.com', /not a host/],
    ['artifacts.example.com:443:443', /malformed/],
  ])('refuses %j', (host, reason) => {
    const match = prod.resolve(host);
    expect(match.kind).toBe('unknown');
    expect(match.kind === 'unknown' && match.reason).toMatch(reason);
  });

  it('serves the embedded default on localhost:8080 and *.localhost:8080 only', () => {
    expect(dev.resolve('localhost:8080')).toEqual({ kind: 'api' });
    expect(dev.resolve('acme-1a2b3c.localhost:8080')).toEqual({ kind: 'artifact', label: 'acme-1a2b3c' });
    expect(dev.resolve('localhost').kind).toBe('unknown');
    expect(dev.resolve('acme.localhost:8081').kind).toBe('unknown');
  });

  it('builds artifact origins with the API scheme and port', () => {
    expect(prod.artifactOrigin('acme-1')).toBe('https://acme-1.example-artifacts.net');
    expect(dev.artifactOrigin('acme-1')).toBe('http://acme-1.localhost:8080');
  });
});
