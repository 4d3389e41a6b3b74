import { parseSharedFilter } from '@roost/topics';
import type { BrokerLimits } from './options.ts';

/** Which topic limit a name or filter broke: the `limit` label of its count. */
export type TopicLimit = 'topic_length' | 'topic_levels';

const SLASH = 0x2f;
/** UTF-8 takes at most 3 bytes per UTF-16 unit (a surrogate pair: 4 bytes for 2 units). */
const MAX_UTF8_PER_UNIT = 3;

/**
 * Whether a topic name, or a filter, is longer (in UTF-8 bytes, as MQTT counts, 1.5.4) or
 * deeper than the configured limits. A shared filter's levels are those of the filter inside
 * `$share/{group}/`: that is what topics are matched against.
 */
export function topicOverLimit(topic: string, limits: BrokerLimits): TopicLimit | undefined {
  const { maxTopicLength, maxTopicLevels } = limits;
  if (maxTopicLength !== undefined && topic.length * MAX_UTF8_PER_UNIT > maxTopicLength && Buffer.byteLength(topic) > maxTopicLength) {
    return 'topic_length';
  }
  // A topic with fewer characters than the limit cannot hold more levels.
  if (maxTopicLevels !== undefined && topic.length >= maxTopicLevels) {
    const matched = parseSharedFilter(topic)?.filter ?? topic;
    if (levelCount(matched) > maxTopicLevels) return 'topic_levels';
  }
  return undefined;
}

function levelCount(topic: string): number {
  let levels = 1;
  for (let i = 0; i < topic.length; i++) if (topic.charCodeAt(i) === SLASH) levels++;
  return levels;
}
