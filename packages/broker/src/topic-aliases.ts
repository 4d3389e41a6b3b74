/**
 * Server→client topic aliases (MQTT 5 3.3.2.3.4): aliases are handed out until the
 * client's Topic Alias Maximum is reached [MQTT-3.3.2-9]; later topics go out in full.
 */
export class OutboundTopicAliases {
  private readonly byTopic = new Map<string, number>();
  private readonly maximum: number;

  constructor(maximum: number) {
    this.maximum = maximum;
  }

  /** The alias for `topic` and whether the full topic must still be sent with it. */
  resolve(topic: string): { alias: number; isNew: boolean } | undefined {
    const known = this.byTopic.get(topic);
    if (known !== undefined) return { alias: known, isNew: false };
    if (this.byTopic.size >= this.maximum) return undefined;
    const alias = this.byTopic.size + 1;
    this.byTopic.set(topic, alias);
    return { alias, isNew: true };
  }

  forget(topic: string): void {
    this.byTopic.delete(topic);
  }
}
