import { Logger } from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import { linkSync, mkdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { AppConfig } from '../../config/app-config';

/**
 * Outside production, with no secret set: one generated on first boot and kept in `fileName`
 * beside the SQLite file (an in-memory database gets a fresh one per process). `variable` names
 * the setting that replaces it, for the log lines.
 */
export function embeddedSecret(config: AppConfig, fileName: string, variable: string, logger: Logger): string {
  if (config.sqlitePath === ':memory:' || config.sqlitePath === '') {
    return randomBytes(48).toString('base64url');
  }
  const file = join(dirname(config.sqlitePath), fileName);
  try {
    return readSecret(file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  mkdirSync(dirname(file), { recursive: true });
  // Written whole to a private temporary file, then linked into place: a concurrent reader never
  // sees a half-written secret, and when two processes race, the first link wins and both use it.
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  writeFileSync(tmp, randomBytes(48).toString('base64url') + '\n', { flag: 'wx', mode: 0o600 });
  try {
    linkSync(tmp, file);
    logger.log(`Generated a secret in ${file}; set ${variable} to manage it yourself.`);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
  } finally {
    unlinkSync(tmp);
  }
  if (config.databaseUrl) {
    logger.warn(
      `${variable} is not set: every replica must share the same secret, or signatures will not verify across them.`,
    );
  }
  return readSecret(file);
}

function readSecret(file: string): string {
  const s = readFileSync(file, 'utf8').trim();
  if (s.length < 32)
    throw new Error(`${file} holds no usable secret (at least 32 characters); delete it to generate a new one`);
  return s;
}
