/**
 * One configured secret, several independent keys: each purpose (blob URLs, job tokens, viewer
 * tickets, sessions, people's sign-ins on the API host, Actions cache upload URLs) gets its own HKDF-derived key, so a value signed for one purpose can never be
 * replayed as another (a blob-URL signature is not a session, a ticket is not a job token).
 */
import { hkdfSync } from 'node:crypto';

export type KeyPurpose = 'blob-url' | 'job-token' | 'viewer-ticket' | 'viewer-session' | 'viewer-login' | 'actions-upload-url';

export function deriveKey(secret: Uint8Array, purpose: KeyPurpose): Buffer {
  return Buffer.from(hkdfSync('sha256', secret, Buffer.alloc(0), `artifact-gateway/${purpose}/v1`, 32));
}
