/* The local Citus cluster's shared tool (../shared/tools/citus-cluster), for the benchmarks' --citus. */
'use strict';

const { execSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..');

/**
 * The path of citus-cluster; CITUS_CLUSTER overrides it. It sits in ../shared beside the main
 * checkout: from a git worktree elsewhere, beside the checkout of the repository's common git directory.
 */
function citusTool() {
  if (process.env.CITUS_CLUSTER) return process.env.CITUS_CLUSTER;
  const candidates = [path.join(ROOT, '..', 'shared', 'tools', 'citus-cluster')];
  try {
    const common = execSync('git rev-parse --path-format=absolute --git-common-dir', { cwd: ROOT, stdio: 'pipe' })
      .toString()
      .trim();
    candidates.push(path.join(path.dirname(common), '..', 'shared', 'tools', 'citus-cluster'));
  } catch {
    /* not a git checkout */
  }
  const found = candidates.find((c) => fs.existsSync(c));
  if (!found) throw new Error(`citus-cluster not found (tried ${candidates.join(', ')}); set CITUS_CLUSTER`);
  return found;
}

/** A fresh distributed database NAME on every node (dropped first if there); its coordinator URL. */
function citusDatabase(name) {
  return execSync(`${citusTool()} db ${name}`, { stdio: ['ignore', 'pipe', 'inherit'] })
    .toString()
    .trim()
    .split('\n')
    .pop();
}

module.exports = { citusTool, citusDatabase };
