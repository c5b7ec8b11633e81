/** Process entry for `node dist/main.js`: the same as `artifact-gateway serve`. */
import { serve } from './cli/serve';

serve(process.argv.slice(2), process.env).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`artifact-gateway: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  },
);
