/**
 * Keys that a JSON text repeats within one object. JSON.parse keeps the last of them silently,
 * and log tools differ on which one they show: an audit line that once read
 * `{"audit":true,"audit":"artifact.upload"}` parsed fine and lost its event name in some of them.
 */
export function repeatedKeys(json: string): string[] {
  const objects: Array<Set<string> | null> = []; // null: an array
  const repeated: string[] = [];
  let expectKey = false;
  for (let i = 0; i < json.length; i++) {
    const c = json[i];
    if (c === '"') {
      let end = i + 1;
      while (json[end] !== '"') end += json[end] === '\\' ? 2 : 1;
      const keys = objects[objects.length - 1];
      if (expectKey && keys) {
        const key = JSON.parse(json.slice(i, end + 1)) as string;
        if (keys.has(key)) repeated.push(key);
        keys.add(key);
        expectKey = false;
      }
      i = end;
    } else if (c === '{') {
      objects.push(new Set());
      expectKey = true;
    } else if (c === '[') {
      objects.push(null);
    } else if (c === '}' || c === ']') {
      objects.pop();
      expectKey = false;
    } else if (c === ',') {
      expectKey = objects[objects.length - 1] != null;
    }
  }
  return repeated;
}
