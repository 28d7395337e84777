import type { Rule } from '../rule.js';
import { exposedPorts } from './expose-ports.js';

/** `EXPOSE 127.0.0.1:80:80`: an image cannot choose host addresses or ports; only the container port is kept. */
export const exposeInvalidFormat: Rule = {
  name: 'ExposeInvalidFormat',
  description: 'IP address and host-port mapping should not be used in EXPOSE instruction. This will become an error in a future release',
  check(ctx, report) {
    for (const { at, specs } of exposedPorts(ctx)) {
      for (const s of specs) {
        if (s.ip !== '' || s.hostPort !== '') report({ message: `EXPOSE instruction should not define an IP address or host-port mapping, found '${s.raw}'`, at });
      }
    }
  },
};
