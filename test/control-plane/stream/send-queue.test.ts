/**
 * The config stream's backpressure for large responses (initial syncs): a process-wide byte budget,
 * arrival order across streams, response order within a stream, and budget given back when a stream
 * closes. The "transport" here is a list of writes whose completion the test triggers, as grpc-js
 * would when a peer reads.
 */
import { describe, expect, it } from 'vitest';
import { LARGE_RESPONSE_BYTES, SendBudget, StreamSender } from '../../../src/control-plane/stream/send-queue.js';

interface Msg {
  id: string;
  size: number;
}

function harness(limit: number) {
  const budget = new SendBudget(limit);
  const written: string[] = [];
  const pending = new Map<string, () => void>();
  const sender = () =>
    new StreamSender<Msg>(
      (m, done) => {
        written.push(m.id);
        pending.set(m.id, done);
      },
      (m) => m.size,
      budget,
    );
  const finish = (id: string) => pending.get(id)!();
  return { budget, written, sender, finish };
}

const BIG = LARGE_RESPONSE_BYTES * 4;

describe('StreamSender over a shared SendBudget', () => {
  it('sends small responses at once, whatever the budget', () => {
    const h = harness(BIG);
    const s = h.sender();
    for (let i = 0; i < 5; i++) s.send({ id: `small${i}`, size: 300 });
    expect(h.written).toEqual(['small0', 'small1', 'small2', 'small3', 'small4']);
    expect(h.budget.bytesInFlight).toBe(0);
  });

  it('holds large responses over the budget until earlier ones are written, in arrival order across streams', () => {
    const h = harness(BIG * 2);
    const [a, b, c, d] = [h.sender(), h.sender(), h.sender(), h.sender()];
    a.send({ id: 'a', size: BIG });
    b.send({ id: 'b', size: BIG });
    c.send({ id: 'c', size: BIG });
    d.send({ id: 'd', size: BIG });
    expect(h.written).toEqual(['a', 'b']);
    expect(h.budget.bytesInFlight).toBe(BIG * 2);
    h.finish('b');
    expect(h.written).toEqual(['a', 'b', 'c']);
    h.finish('a');
    expect(h.written).toEqual(['a', 'b', 'c', 'd']);
    h.finish('c');
    h.finish('d');
    expect(h.budget.bytesInFlight).toBe(0);
  });

  it('keeps a stream in order: a small change queued behind its own waiting sync waits with it', () => {
    const h = harness(BIG);
    const [a, b] = [h.sender(), h.sender()];
    a.send({ id: 'a-sync', size: BIG });
    b.send({ id: 'b-sync', size: BIG });
    b.send({ id: 'b-change', size: 355 });
    expect(h.written).toEqual(['a-sync']);
    h.finish('a-sync');
    expect(h.written).toEqual(['a-sync', 'b-sync', 'b-change']);
  });

  it('a response larger than the whole budget still goes when nothing else is in flight', () => {
    const h = harness(BIG);
    h.sender().send({ id: 'huge', size: BIG * 3 });
    expect(h.written).toEqual(['huge']);
  });

  it('a closed stream drops what it queued and gives back what it held, waking the next stream', () => {
    const h = harness(BIG);
    const [a, b, c] = [h.sender(), h.sender(), h.sender()];
    a.send({ id: 'a', size: BIG });
    b.send({ id: 'b', size: BIG });
    c.send({ id: 'c', size: BIG });
    b.close();
    expect(h.written).toEqual(['a']);
    a.close();
    expect(h.written).toEqual(['a', 'c']);
    h.finish('a');
    expect(h.budget.bytesInFlight).toBe(BIG);
    h.finish('c');
    expect(h.budget.bytesInFlight).toBe(0);
  });
});
