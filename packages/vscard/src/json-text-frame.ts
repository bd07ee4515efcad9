/** Reading the relay's JSON text frames (resume offer, notices) without ever throwing. */

/** The frame's fields when it is a JSON object, else `null` (not JSON, an array counts as one). */
export function parseJsonObject(text: string): Record<string, unknown> | null {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return null;
  }
  if (typeof value !== 'object' || value === null) return null;
  return value as Record<string, unknown>;
}
