import { openStateDb } from '../db/database.js';
import { metaMigrations } from '../db/repos/meta-repo.js';
import { PeerBook, netMigrations } from './peer-book.js';

/**
 * Forgets a peer and its pinned certificate straight in the state database, for `magnet-node peers forget` with no
 * daemon running (the CLI never opens net's tables itself). True when the peer was in the peer book.
 */
export function forgetPeer(dbPath: string, nodeId: string): boolean {
  const { db } = openStateDb(dbPath, [...metaMigrations, ...netMigrations]);
  try {
    return new PeerBook(db).forget(nodeId);
  } finally {
    db.close();
  }
}
