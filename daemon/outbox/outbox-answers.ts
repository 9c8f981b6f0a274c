/**
 * The answers kept in the outbox file: stored once per frame id (a broker's
 * redelivery is a duplicate, not a second answer), the oldest trimmed beyond
 * the bound.
 */
import type Database from 'better-sqlite3';
import type { OutboxStatements } from './outbox-database.ts';
import type { StoredAnswer } from './outbox.ts';

export class OutboxAnswers {
  readonly #db: Database.Database;
  readonly #statements: OutboxStatements;
  readonly #max: number;
  #count: number;

  constructor(db: Database.Database, statements: OutboxStatements, maxAnswers: number) {
    this.#db = db;
    this.#statements = statements;
    this.#max = maxAnswers;
    this.#count = statements.countAnswers.get()!.n;
  }

  get count(): number {
    return this.#count;
  }

  /** Stores an answer once per frame id; false for a duplicate. */
  store(frameId: string, payload: string, receivedAt: number): boolean {
    return this.#db.transaction(() => {
      const inserted = this.#statements.insertAnswer.run(frameId, receivedAt, payload).changes === 1;
      if (!inserted) return false;
      this.#count += 1;
      if (this.#count > this.#max) {
        this.#count -= this.#statements.trimAnswers.run(this.#count - this.#max).changes;
      }
      return true;
    })();
  }

  list(options: { limit?: number; afterReceivedAt?: number }): StoredAnswer[] {
    return this.#statements.answers.all(options.afterReceivedAt ?? -1, options.limit ?? 100);
  }
}
