/**
 * Ids (projects, builds, scopes) are percent-encoded into one key segment by the domain layouts
 * (artifacts/layout.ts, caches/layout.ts). Reading one back accepts only what encodeURIComponent
 * itself makes: a key written by hand or by another tool ("acme%2fweb", "a b") would decode to an
 * id whose keys the layout builds differently, so gc would delete the wrong ones.
 */
export function decodeSegment(segment: string): string | null {
  let decoded: string;
  try {
    decoded = decodeURIComponent(segment);
  } catch {
    return null; // not percent-encoding
  }
  return encodeURIComponent(decoded) === segment ? decoded : null;
}
