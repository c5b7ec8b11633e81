/**
 * `artifact-gateway ticket`: prints a sign-in link for a viewer of a private project, the link a
 * CI's web app would put on its build page: `<artifact origin>/_auth?ticket=…&next=/…`. Opening
 * it sets a session cookie for that one origin and redirects to `next`.
 */
import { userInfo } from 'node:os';
import { BUILD_ID, PROJECT_ID } from '../ids';
import { isSameOriginPath } from '../auth/viewer';
import { originLabel } from '../artifacts/labels';
import { loadConfig } from '../config';
import { createHostResolver } from '../hosts';
import { id, wholeNumber } from './args';
import { gatewayAuth } from './gateway-auth';
import { defineCommand, OPTIONS, UsageError } from './command';

export const ticket = defineCommand(
  {
    name: 'ticket',
    usage: '--project P [options]',
    about: `Prints the sign-in URL for a viewer of a private project's artifacts. The ticket in it is valid
for --ttl seconds and on that project's origin only (with ISOLATION=build: that build's origin);
it is exchanged there for a session cookie (SESSION_TTL). Reads the same environment variables as
'serve'. The origin exists once the project (or build) has at least one artifact.`,
    options: {
      project: OPTIONS.project,
      build: { type: 'string', value: 'N', help: 'build id (required with ISOLATION=build; with ISOLATION=project it sets the default --next to /N/)' },
      viewer: { type: 'string', value: 'NAME', help: "who is looking, recorded in the gateway's audit log (default: your user name)" },
      next: {
        type: 'string',
        value: '/PATH',
        help: 'where to land after signing in, a path starting with a single / (default: /N/ when --build is given with ISOLATION=project, else /)',
      },
      ttl: { type: 'string', value: 'SECONDS', help: 'how long the link may be used, 10 to 86400 (default: TICKET_TTL, 300)' },
      help: OPTIONS.help,
    },
  },
  async ({ values }, env) => {
    const project = id(values.project, 'project', PROJECT_ID);
    const build = values.build === undefined ? undefined : id(values.build, 'build', BUILD_ID);
    const next = values.next;
    if (next !== undefined && !isSameOriginPath(next)) {
      throw new UsageError(`the option '--next' must be a path on the artifact origin starting with a single '/', got ${JSON.stringify(next)}`);
    }
    const viewer = values.viewer ?? defaultViewer();
    if (viewer === '' || /[\u0000-\u001f\u007f]/.test(viewer)) {
      throw new UsageError(`the option '--viewer' expects a name, got ${JSON.stringify(viewer)}`);
    }

    const config = loadConfig(env);
    if (config.isolation === 'build' && build === undefined) {
      throw new UsageError("the option '--build' is required with ISOLATION=build (every build has an origin of its own)");
    }
    const ttl = wholeNumber(values.ttl, 'ttl', config.ticketTtlSeconds, 10, 86400);
    if (config.publicProjects.has(project)) {
      process.stderr.write(`artifact-gateway ticket: note: ${project} is in PUBLIC_PROJECTS; anyone may browse it without a ticket\n`);
    }
    const label = config.isolation === 'build' ? originLabel(project, build) : originLabel(project);
    const landing = next ?? (build !== undefined && config.isolation === 'project' ? `/${encodeURIComponent(build)}/` : '/');

    const auth = await gatewayAuth('ticket', config);
    const jwt = await auth.viewers.mintTicket({ label, project, viewer }, ttl);
    const origin = createHostResolver(config).artifactOrigin(label);
    process.stdout.write(`${origin}/_auth?ticket=${encodeURIComponent(jwt)}&next=${encodeURIComponent(landing)}\n`);
    return 0;
  },
);

function defaultViewer(): string {
  try {
    return userInfo().username || 'cli';
  } catch {
    return 'cli'; // no passwd entry (a container running as an arbitrary uid)
  }
}
