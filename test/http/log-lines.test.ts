import { repeatedKeys } from '../support/json-keys';

describe('repeatedKeys, which every captured log line is held to', () => {
  it.each([
    ['{"audit":true,"audit":"artifact.upload"}', ['audit']],
    ['{"a":{"b":1,"b":2},"c":[{"d":1,"d":2}]}', ['b', 'd']],
    ['{"a":"x\\",\\"a\\":1","a":2}', ['a']],
  ])('finds the keys repeated in %s', (line, repeated) => {
    expect(repeatedKeys(line)).toEqual(repeated);
  });

  it.each(['{"audit":"artifact.upload","who":{"project":"p"},"what":{"project":"p"}}', '{"list":["audit","audit"],"s":"{\\"k\\":1,\\"k\\":2}"}', '{}'])(
    'finds none in %s (the same name at two levels, or inside a string, is not a repeat)',
    (line) => {
      expect(repeatedKeys(line)).toEqual([]);
    },
  );
});
