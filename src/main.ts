/** Process entry for `node dist/main.js`: the same as `artifact-gateway serve`. */
import { run } from './cli';

run(['serve', ...process.argv.slice(2)]);
