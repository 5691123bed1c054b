import { Global, Injectable, Module } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { AsyncLocalStorage } from 'node:async_hooks';
import { DataSource, EntityManager, EntityTarget, ObjectLiteral, Repository } from 'typeorm';

interface OpenTransaction {
  ds: DataSource;
  manager: EntityManager;
  afterCommit: (() => void)[];
}

const open = new AsyncLocalStorage<OpenTransaction>();

/**
 * Transactions of this scope running now. On Node 20 an enabled AsyncLocalStorage hooks every
 * promise of the process (~2x the cost of an await, measured), the conversion hot path's too;
 * admin writes are rare, so the storage is switched off whenever none is open (`run` switches it
 * back on). Node 24's AsyncContextFrame makes this free, but Node 20 and 22 are supported too.
 */
let running = 0;

/**
 * Runs `fn` once the open transaction has committed (at once when there is none): for what must
 * not happen before the write is visible, such as dropping a cached value (a reader that refilled
 * the cache meanwhile would otherwise keep the old value), and must not happen at all when the
 * write is rolled back.
 */
export function afterCommit(fn: () => void): void {
  const tx = open.getStore();
  if (tx) tx.afterCommit.push(fn);
  else fn();
}

/**
 * One transaction around several services' writes, without handing an EntityManager through
 * them: repositories built with `repository()` run on the connection of the transaction open in
 * the current async context, and on the pool otherwise.
 *
 * On PostgreSQL the transaction has a connection of its own. On SQLite TypeORM has one connection
 * for the process, so a statement issued elsewhere while a transaction is open would join it;
 * better-sqlite3 runs each statement synchronously and the conversion write path starts from
 * setImmediate, so a transaction whose statements are all TypeORM's (no I/O in between) runs to
 * its end before any other request's write can start.
 */
@Injectable()
export class TransactionScope {
  constructor(@InjectDataSource() private readonly ds: DataSource) {}

  /** Runs `fn` in one transaction (joining the one already open): all of it commits, or none. */
  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (open.getStore()?.ds === this.ds) return fn();
    const hooks: (() => void)[] = [];
    running++;
    let result: T;
    try {
      result = await this.ds.transaction((manager) => open.run({ ds: this.ds, manager, afterCommit: hooks }, fn));
    } finally {
      if (--running === 0) open.disable();
    }
    for (const hook of hooks) hook();
    return result;
  }

  /** A repository of `target` that takes part in the open transaction, if any. */
  repository<E extends ObjectLiteral>(target: EntityTarget<E>): Repository<E> {
    const outside = this.ds.getRepository(target);
    return new Proxy(outside, {
      get: (_, prop) => {
        const tx = open.getStore();
        const repo = tx?.ds === this.ds ? tx.manager.getRepository(target) : outside;
        const value: unknown = Reflect.get(repo, prop, repo);
        return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(repo) : value;
      },
    });
  }
}

/** Provides TransactionScope everywhere (global, like the DataSource it wraps). */
@Global()
@Module({ providers: [TransactionScope], exports: [TransactionScope] })
export class TransactionModule {}
