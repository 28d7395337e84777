import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import bcrypt from 'bcryptjs';

/**
 * Users from an htpasswd file with bcrypt entries (`htpasswd -B`). Verified passwords are
 * remembered by a hash of user, password and entry, so only the first request of a client pays
 * bcrypt's deliberate slowness.
 */
export class Htpasswd {
  private readonly verified = new Set<string>();

  constructor(private readonly entries: Map<string, string>) {}

  static parse(text: string, source = 'htpasswd'): Htpasswd {
    const entries = new Map<string, string>();
    text.split(/\r?\n/).forEach((line, i) => {
      const l = line.trim();
      if (!l || l.startsWith('#')) return;
      const colon = l.indexOf(':');
      const user = l.slice(0, colon);
      const hash = l.slice(colon + 1);
      if (colon <= 0 || !/^\$2[aby]\$\d\d\$.{53}$/.test(hash)) {
        throw new Error(`${source}:${i + 1}: not a bcrypt entry (make one with: htpasswd -Bbn USER PASSWORD)`);
      }
      entries.set(user, hash);
    });
    return new Htpasswd(entries);
  }

  static async load(path: string): Promise<Htpasswd> {
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (e) {
      throw new Error(`cannot read htpasswd file ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    return Htpasswd.parse(text, path);
  }

  get size(): number {
    return this.entries.size;
  }

  async verify(user: string, password: string): Promise<boolean> {
    const entry = this.entries.get(user);
    if (!entry) return false;
    const key = createHash('sha256').update(`${user}\0${password}\0${entry}`).digest('hex');
    if (this.verified.has(key)) return true;
    // Apache writes $2y$, the same algorithm bcryptjs knows as $2b$.
    const ok = await bcrypt.compare(password, entry.replace(/^\$2y\$/, '$2b$'));
    if (ok) this.verified.add(key);
    return ok;
  }
}

/** `Authorization: Basic ...` decoded, or undefined. */
export function basicCredentials(header: string | undefined): { user: string; password: string } | undefined {
  const m = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header ?? '');
  if (!m) return undefined;
  const text = Buffer.from(m[1]!, 'base64').toString('utf8');
  const colon = text.indexOf(':');
  if (colon < 0) return undefined;
  return { user: text.slice(0, colon), password: text.slice(colon + 1) };
}
