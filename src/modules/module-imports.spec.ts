import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/*
 * A conversion's path enters and leaves each module once: no feature module imports one that
 * imports it back, directly or through others. Read from the sources (every import, type-only
 * ones included, of every non-spec file under src/modules).
 */
function moduleGraph(): Map<string, Set<string>> {
  const root = __dirname;
  const graph = new Map<string, Set<string>>();
  for (const mod of readdirSync(root, { withFileTypes: true }).filter((d) => d.isDirectory())) {
    const deps = new Set<string>();
    const walk = (dir: string) => {
      for (const e of readdirSync(dir, { withFileTypes: true })) {
        const p = join(dir, e.name);
        if (e.isDirectory()) walk(p);
        else if (e.name.endsWith('.ts') && !e.name.endsWith('.spec.ts')) {
          for (const m of readFileSync(p, 'utf8').matchAll(/from '\.\.\/([a-z-]+)\//g))
            if (m[1] !== mod.name) deps.add(m[1]);
        }
      }
    };
    walk(join(root, mod.name));
    graph.set(mod.name, deps);
  }
  return graph;
}

/** A cycle of modules (first = last), or null. */
function findCycle(graph: Map<string, Set<string>>): string[] | null {
  const state = new Map<string, 'open' | 'done'>();
  const path: string[] = [];
  const visit = (m: string): string[] | null => {
    if (state.get(m) === 'done') return null;
    if (state.get(m) === 'open') return [...path.slice(path.indexOf(m)), m];
    state.set(m, 'open');
    path.push(m);
    for (const d of graph.get(m) ?? []) {
      const c = visit(d);
      if (c) return c;
    }
    path.pop();
    state.set(m, 'done');
    return null;
  };
  for (const m of graph.keys()) {
    const c = visit(m);
    if (c) return c;
  }
  return null;
}

describe('feature modules', () => {
  it('import each other without a cycle', () => {
    const graph = moduleGraph();
    expect(graph.get('conversions')).toEqual(expect.any(Set)); // the graph was read
    expect(graph.get('conversions')!.has('dedup')).toBe(true);
    expect(findCycle(graph)).toBeNull();
  });

  it('finds a cycle when there is one', () => {
    const g = new Map([
      ['a', new Set(['b'])],
      ['b', new Set(['c'])],
      ['c', new Set(['a'])],
    ]);
    expect(findCycle(g)).toEqual(['a', 'b', 'c', 'a']);
  });
});
