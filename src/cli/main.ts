// bpfproxy command line: run | inspect | render | trace. Parses the options (options.ts),
// enters --netns, and hands over to the subcommand.
import { createLogger } from '../util/logger.js';
import { reexecInNetns } from './netns.js';
import { type CliOptions, HELP, optionsFrom, parseArgv } from './options.js';
import { runCommand } from './run.js';
import { inspectCommand } from './inspect.js';
import { renderCommand } from './render.js';
import { traceCommand } from './trace.js';

export async function main(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgv(argv);
  } catch (e) {
    process.stderr.write(`bpfproxy: ${(e as Error).message}\n\n${HELP}`);
    return 2;
  }
  const { values: v, positionals } = parsed;
  const cmd = positionals[0];
  if (v.help || cmd === undefined || cmd === 'help') {
    process.stdout.write(HELP);
    return cmd === undefined && !v.help ? 2 : 0;
  }
  const entered = await reexecInNetns(v.netns);
  if (entered !== undefined) return entered;

  let opts: CliOptions;
  let ignored: string[];
  try {
    ({ opts, ignored } = optionsFrom(v));
  } catch (e) {
    process.stderr.write(`bpfproxy: ${(e as Error).message}\n`);
    return 2;
  }
  const log = createLogger(v['log-level'], cmd === 'run' ? 1 : 2);
  if (ignored.length > 0) log.warn({ config: v.config, fields: ignored }, 'kube-proxy configuration fields bpfproxy does not use; ignored');
  switch (cmd) {
    case 'run':
      return runCommand(opts, log);
    case 'inspect':
      return inspectCommand(opts, log, { stats: v.stats });
    case 'render':
      return renderCommand(opts, log);
    case 'trace':
      return traceCommand(opts, { src: v.src, dst: v.dst, proto: v.proto, json: v.json });
    default:
      process.stderr.write(`bpfproxy: unknown command ${JSON.stringify(cmd)}\n\n${HELP}`);
      return 2;
  }
}
