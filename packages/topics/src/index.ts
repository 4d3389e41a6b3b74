export { isValidTopicName, isValidTopicFilter, parseSharedFilter } from './validate.ts';
export { topicMatches } from './match.ts';
export { SubscriptionTrie } from './subscription-trie.ts';
export { TopicTree } from './topic-tree.ts';
