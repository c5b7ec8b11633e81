// Bundles the runner client (src/cli/client.ts: upload, cache save|restore) with its dependencies
// into one file, dist/bundle/artifact-gateway.cjs, which needs nothing but node >= 20: the gateway
// serves it at /client/artifact-gateway.cjs. Run by `npm run build` and by jest's global setup.
// The same file is copied into packages/client/, the npm package `artifact-gateway-client`
// (whose prepack runs this script). The version printed by `--version` is package.json's, plus
// the git commit when there is one; the package's version must be the gateway's.
import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
export const OUTFILE = join(root, 'dist', 'bundle', 'artifact-gateway.cjs');

function commit() {
  try {
    return execFileSync('git', ['rev-parse', '--short=12', 'HEAD'], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return ''; // a tarball or a copy without .git: the version alone
  }
}

const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const clientPkg = JSON.parse(readFileSync(join(root, 'packages', 'client', 'package.json'), 'utf8'));
if (clientPkg.version !== pkg.version) {
  throw new Error(`packages/client/package.json has version ${clientPkg.version}, the gateway ${pkg.version}: they are released together`);
}
const sha = commit();
const version = sha ? `${pkg.version}+${sha}` : pkg.version;

await build({
  entryPoints: [join(root, 'src', 'cli', 'client.ts')],
  outfile: OUTFILE,
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  // the whole client in one file: nothing may be left to resolve on the runner
  packages: 'bundle',
  define: { AGW_CLIENT_VERSION: JSON.stringify(version) },
  // the second line is read by the gateway for X-Client-Version (src/http/client-bundle.ts)
  banner: { js: `#!/usr/bin/env node\n// artifact-gateway runner client ${version}` },
  legalComments: 'inline',
  metafile: true,
  logLevel: 'warning',
}).then((result) => {
  const inputs = Object.keys(result.metafile.inputs);
  // the runner client must never carry the server: its storage SDK, its configuration, its keys
  const forbidden = inputs.filter((f) => /@aws-sdk|@smithy|src\/(config\.ts|config\/(?!error\.ts)|storage\/create|auth\/|server\.ts|app\.ts|http\/)/.test(f));
  if (forbidden.length > 0) throw new Error(`the runner client bundle pulled in server code: ${forbidden.join(', ')}`);
  chmodSync(OUTFILE, 0o755);
  copyFileSync(OUTFILE, join(root, 'packages', 'client', 'artifact-gateway.cjs'));
  chmodSync(join(root, 'packages', 'client', 'artifact-gateway.cjs'), 0o755);
  if (process.env.AGW_BUILD_VERBOSE) process.stdout.write(`${inputs.join('\n')}\n`);
  process.stdout.write(`runner client ${version}: ${OUTFILE.slice(root.length + 1)} (${statSync(OUTFILE).size} bytes)\n`);
});
