/**
 * Headers for everything served on an artifact origin, through helmet. The CSP lets a report's
 * own scripts and styles run (reports are full of inline script) but only talk to 'self': no
 * exfiltration by fetch, no framing by strangers, no plugins. Images and media may come from the
 * storage origin because passive files are redirected there.
 */
import type { HelmetOptions } from 'helmet';

export function artifactHelmet(frameAncestors: string[], storageOrigin: string): Readonly<HelmetOptions> {
  const fromStorage = storageOrigin ? [storageOrigin] : [];
  return {
    contentSecurityPolicy: {
      useDefaults: false,
      directives: {
        defaultSrc: ["'self'"],
        scriptSrc: ["'self'", "'unsafe-inline'", "'unsafe-eval'", 'blob:'],
        styleSrc: ["'self'", "'unsafe-inline'"],
        imgSrc: ["'self'", 'data:', 'blob:', ...fromStorage],
        mediaSrc: ["'self'", 'data:', 'blob:', ...fromStorage],
        fontSrc: ["'self'", 'data:'],
        connectSrc: ["'self'"],
        workerSrc: ["'self'", 'blob:'],
        frameSrc: ["'self'"],
        objectSrc: ["'none'"],
        baseUri: ["'self'"],
        formAction: ["'self'"],
        frameAncestors,
      },
    },
    crossOriginOpenerPolicy: { policy: 'same-origin' },
    crossOriginResourcePolicy: { policy: 'same-origin' },
    // COEP would break reports that embed cross-origin images from the storage origin
    crossOriginEmbedderPolicy: false,
    originAgentCluster: true,
    referrerPolicy: { policy: 'no-referrer' },
    // frame-ancestors decides framing; X-Frame-Options cannot express an allow-list
    xFrameOptions: false,
    // HSTS is set by the TLS terminator
    strictTransportSecurity: false,
    xDnsPrefetchControl: { allow: false },
    xPermittedCrossDomainPolicies: { permittedPolicies: 'none' },
  };
}
