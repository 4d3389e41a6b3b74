import { MemoryRetainedStore, MemorySessionStore } from '@roost/session';
import { retainedStoreContract, sessionStoreContract } from './store-contract.ts';

sessionStoreContract('MemorySessionStore', async () => new MemorySessionStore());
retainedStoreContract('MemoryRetainedStore', async () => new MemoryRetainedStore());
