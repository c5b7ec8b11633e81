/**
 * What `cache save` and `cache restore` read from their command line: keys checked with the
 * gateway's own rules, and sizes, each problem a UsageError naming the option.
 */
import { UsageError } from '../../src/cli/command';
import { byteSize, cacheKey } from '../../src/cli/cache-options';

describe('cache command options', () => {
  it("checks keys with the gateway's rules, naming the option", () => {
    expect(cacheKey('npm-e\u0301', 'key')).toBe('npm-\u00e9'); // NFC, as the gateway stores it
    expect(() => cacheKey('a,b', 'key')).toThrow(/'--key': cache key contains a comma/);
    expect(() => cacheKey('x'.repeat(513), 'key')).toThrow(/limit is 512/);
    expect(() => cacheKey('a/../b', 'key')).toThrow(UsageError);
    expect(cacheKey('npm-linux/', 'restore-keys', true)).toBe('npm-linux/');
  });

  it.each([
    ['10737418240', 10737418240],
    ['512M', 512 * 1024 ** 2],
    ['10GiB', 10 * 1024 ** 3],
    ['4k', 4096],
  ])('reads the size %j as %d bytes', (raw, bytes) => {
    expect(byteSize(raw, 'max-expanded-size', 1)).toBe(bytes);
  });

  it.each(['10X', '0', '-1', '1.5G', ''])('refuses the size %j, naming the option', (raw) => {
    expect(() => byteSize(raw, 'max-expanded-size', 1)).toThrow(/'--max-expanded-size' expects a size in bytes/);
  });
});
