import type { Rule } from '../rule.js';
import { exposedPorts } from './expose-ports.js';

/** `EXPOSE 80/TCP`: the protocol is matched lower case by the tools that read the config. */
export const exposeProtoCasing: Rule = {
  name: 'ExposeProtoCasing',
  description: 'Protocol in EXPOSE instruction should be lowercase',
  check(ctx, report) {
    for (const { at, specs } of exposedPorts(ctx)) {
      for (const s of specs) {
        if (s.proto !== s.proto.toLowerCase()) report({ message: `Defined protocol '${s.raw}' in EXPOSE instruction should be lowercase`, at });
      }
    }
  },
};
