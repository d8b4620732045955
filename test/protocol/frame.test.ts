// FrameError says by a field, not by its wording, whether a frame was refused for being over
// the body limit (counted as limit client_frame_size) or for being malformed.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeMessageFrame, encodeFrame, FrameError, FrameReader, HEADER_LEN } from '../../src/protocol/frame.js';

function readError(bytes: Buffer, maxBody: number): FrameError {
  try {
    new FrameReader(maxBody).push(bytes, () => {});
  } catch (err) {
    assert.ok(err instanceof FrameError);
    return err;
  }
  throw new Error('no error');
}

function messageError(bytes: Buffer, maxBody: number): FrameError {
  try {
    decodeMessageFrame(bytes, maxBody);
  } catch (err) {
    assert.ok(err instanceof FrameError);
    return err;
  }
  throw new Error('no error');
}

describe('FrameError.tooLarge', () => {
  it('is set for a frame over maxBody, on a stream and in a WebSocket message', () => {
    const big = encodeFrame(2, Buffer.alloc(65));
    assert.equal(readError(big.subarray(0, HEADER_LEN), 64).tooLarge, true);
    assert.equal(messageError(big, 64).tooLarge, true);
  });

  it('is not set for malformed frames, whatever their message says', () => {
    const badHeaderLen = encodeFrame(2);
    badHeaderLen.writeInt16BE(12, 4);
    assert.equal(readError(badHeaderLen, 64).tooLarge, false);
    const shortPackLen = encodeFrame(2);
    shortPackLen.writeInt32BE(8, 0);
    assert.equal(readError(shortPackLen, 64).tooLarge, false);
    // A packLen past the end of its message "exceeds" something too, but not the limit.
    const truncated = encodeFrame(2, Buffer.alloc(10)).subarray(0, HEADER_LEN + 4);
    const err = messageError(truncated, 64);
    assert.match(err.message, /exceeds message length/);
    assert.equal(err.tooLarge, false);
    assert.equal(messageError(Buffer.alloc(4), 64).tooLarge, false);
  });

  it('defaults to false for errors made elsewhere', () => {
    assert.equal(new FrameError('x').tooLarge, false);
  });
});
