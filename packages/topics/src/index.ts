export * from './validate.ts';
export * from './match.ts';
export * from './subscription-trie.ts';
export * from './topic-tree.ts';
