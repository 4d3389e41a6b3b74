import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isValidTopicFilter, isValidTopicName, parseSharedFilter } from '../src/index.ts';

function assertFilters(valid: boolean, filters: string[]): void {
  for (const filter of filters) assert.equal(isValidTopicFilter(filter), valid, JSON.stringify(filter));
}

function assertNames(valid: boolean, names: string[]): void {
  for (const name of names) assert.equal(isValidTopicName(name), valid, JSON.stringify(name));
}

test('[MQTT-4.7.1-1] wildcards may appear in filters but not in topic names', () => {
  assertNames(false, ['+', '#', 'sport/+', 'sport/#', 'sport+', 'a#b', '$SYS/#']);
  assertNames(true, ['sport/tennis/player1', '/', '//', '$SYS/broker/uptime', 'a b', ' ']);
  assertFilters(true, ['+', '#', 'sport/+', 'sport/#']);
});

test('[MQTT-4.7.1-2] # must be on its own or after /, and the last character of a filter', () => {
  assertFilters(true, ['#', 'sport/#', 'sport/tennis/#', '/#', '+/#', 'a//#']);
  assertFilters(false, ['sport/tennis#', 'sport/tennis/#/ranking', '#/', '#/a', '##', 'a/##', 'a/#b', 'a/b#', '#+', '+#']);
});

test('[MQTT-4.7.1-3] + must occupy an entire level of a filter', () => {
  assertFilters(true, ['+', '+/tennis/#', 'sport/+/player1', '/+', '+/', '+/+', '+//+', 'a/+/+/b']);
  assertFilters(false, ['sport+', '+sport', 'sport/+tennis', 'sport/tennis+/x', '++', 'a/++', '+a/b']);
});

test('[MQTT-4.7.3-1] topic names and filters are at least one character long', () => {
  assertNames(false, ['']);
  assertFilters(false, ['']);
  assertNames(true, ['a', '/']);
  assertFilters(true, ['a', '/']);
});

test('[MQTT-4.7.3-2] [MQTT-1.5.4-2] topic names and filters must not include U+0000', () => {
  assertNames(false, ['\u0000', 'a\u0000b', 'sport/\u0000']);
  assertFilters(false, ['\u0000', 'a\u0000b', 'sport/\u0000/#', '$share/g\u0000/a', '$share/g/a\u0000']);
});

test('[MQTT-4.7.3-3] topic names and filters encode to at most 65535 bytes', () => {
  const limits: Array<[string, number]> = [
    ['a', 1],
    ['é', 2], // U+00E9
    ['€', 3], // U+20AC
    ['😀', 4], // U+1F600, a surrogate pair
  ];
  for (const [char, width] of limits) {
    const fits = char.repeat(Math.floor(65535 / width));
    const over = fits + char;
    assertNames(true, [fits]);
    assertNames(false, [over]);
    assertFilters(true, [fits]);
    assertFilters(false, [over]);
  }
  assertFilters(true, ['a'.repeat(65533) + '/#']);
  assertFilters(false, ['a'.repeat(65534) + '/#']);
  // The shared prefix counts towards the limit: it is all one UTF-8 string on the wire.
  assertFilters(true, ['$share/g/' + 'a'.repeat(65535 - 9)]);
  assertFilters(false, ['$share/g/' + 'a'.repeat(65535 - 8)]);
});

test('[MQTT-1.5.4-1] malformed UTF-8 is refused: U+FFFD from the codec, lone surrogates', () => {
  assertNames(false, ['\uFFFD', 'sport/\uFFFD', '\uD800', 'a\uDC00', 'a\uD83D', '\uDE00\uD83D']);
  assertFilters(false, ['\uFFFD', 'sport/\uFFFD/#', '\uD800/#', '$share/\uFFFD/a', '$share/g/\uDC00']);
  // A well-formed pair is one supplementary code point, and fine.
  assertNames(true, ['\uD83D\uDE00', 'sport/😀']);
  assertFilters(true, ['😀/+/#', '$share/😀/a']);
});

test('[MQTT-1.5.4-3] a byte order mark is an ordinary character, kept as it is', () => {
  assertNames(true, ['\uFEFFsport']);
  assertFilters(true, ['\uFEFFsport/#']);
});

test('[MQTT-4.8.2-1] a shared filter starts with $share/ and has a ShareName of at least one character', () => {
  assertFilters(true, ['$share/g/a', '$share/group-1/sport/#', '$share/g/+', '$share/g/#', '$share/g//']);
  assertFilters(false, ['$share', '$share/', '$share//a', '$share//#']);
});

test('[MQTT-4.8.2-2] the ShareName has no / + #, and is followed by / and a valid filter', () => {
  assertFilters(false, ['$share/g', '$share/g/', '$share/g+/a', '$share/+/a', '$share/#/a', '$share/g#/a', '$share/#']);
  // The inner filter obeys the ordinary wildcard rules.
  assertFilters(false, ['$share/g/a#', '$share/g/#/a', '$share/g/a+', '$share/g/\u0000']);
  // The inner filter is ordinary: `$share` there does not nest.
  assertFilters(true, ['$share/g/$share/h/a', '$share/g/$SYS/#']);
});

test('filters that merely start like $share are ordinary filters', () => {
  assertFilters(true, ['$shared/a', '$sharex', '$SHARE/g', '$SYS/#', '$']);
  assert.equal(parseSharedFilter('$shared/a'), undefined);
  assert.equal(parseSharedFilter('$SHARE/g/a'), undefined);
});

test('parseSharedFilter splits a shared filter into group and inner filter', () => {
  assert.deepEqual(parseSharedFilter('$share/g/sport/#'), { group: 'g', filter: 'sport/#' });
  assert.deepEqual(parseSharedFilter('$share/consumers/+'), { group: 'consumers', filter: '+' });
  assert.deepEqual(parseSharedFilter('$share/g/$share/h/a'), { group: 'g', filter: '$share/h/a' });
  assert.deepEqual(parseSharedFilter('$share/g//'), { group: 'g', filter: '/' });
  assert.equal(parseSharedFilter('sport/#'), undefined);
  assert.equal(parseSharedFilter('$SYS/#'), undefined);
  assert.equal(parseSharedFilter('$share'), undefined);
  assert.equal(parseSharedFilter('$share/g'), undefined);
});
