import assert from 'node:assert/strict';
import { test } from 'node:test';
import { metricValue } from '../../bench/measure/scrape.js';

const page = [
  '# HELP tsim_comet_socket_writes_total Write calls on client sockets.',
  '# TYPE tsim_comet_socket_writes_total counter',
  'tsim_comet_socket_writes_total 1234',
  'tsim_comet_socket_writes_total_extra 99',
  'tsim_comet_pushes_delivered_total{kind="room"} 40',
  'tsim_comet_pushes_delivered_total{kind="keys"} 2',
  'tsim_comet_connections 10',
].join('\n');

test('reads a plain sample, sums labelled ones, ignores longer names and comments', () => {
  assert.equal(metricValue(page, 'tsim_comet_socket_writes_total'), 1234);
  assert.equal(metricValue(page, 'tsim_comet_pushes_delivered_total'), 42);
  assert.equal(metricValue(page, 'tsim_comet_connections'), 10);
  assert.equal(metricValue(page, 'tsim_comet_missing'), undefined);
});
