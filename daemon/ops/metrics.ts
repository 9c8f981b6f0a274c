/**
 * Prometheus metrics of the edge daemon, served on an optional localhost port.
 * The queue gauges are read from the outbox at every scrape (`queueSource`),
 * so they are current after the publisher drains it, not the values of the
 * last enqueue.
 */
import { Counter, Gauge, Histogram } from 'prom-client';
import { ServedMetrics } from '../../runtime/metrics-server.ts';

export class EdgeMetrics extends ServedMetrics {
  readonly captured = new Counter({ name: 'splitoculo_frames_captured_total', help: 'images taken from the camera', registers: [this.registry] });
  readonly dropped = new Counter({ name: 'splitoculo_frames_dropped_total', help: 'images skipped, by reason', labelNames: ['reason'], registers: [this.registry] });
  readonly encoded = new Counter({ name: 'splitoculo_frames_encoded_total', help: 'images encoded into wire frames', registers: [this.registry] });
  readonly framesByCodec = new Counter({ name: 'splitoculo_frames_by_codec_total', help: 'frames encoded, by the codec used (neural, jpeg)', labelNames: ['codec'], registers: [this.registry] });
  readonly queued = new Counter({ name: 'splitoculo_frames_queued_total', help: 'frames committed to the outbox', registers: [this.registry] });
  readonly published = new Counter({ name: 'splitoculo_frames_published_total', help: 'frames acknowledged by the broker', registers: [this.registry] });
  readonly publishedBytes = new Counter({ name: 'splitoculo_published_bytes_total', help: 'frame bytes acknowledged by the broker', registers: [this.registry] });
  readonly publishTimeouts = new Counter({ name: 'splitoculo_publish_timeouts_total', help: 'publishes without PUBACK in time (sent again)', registers: [this.registry] });
  readonly evicted = new Counter({ name: 'splitoculo_frames_evicted_total', help: 'frames removed from the outbox by policy', labelNames: ['reason'], registers: [this.registry] });
  readonly answers = new Counter({ name: 'splitoculo_answers_total', help: 'answers received, by outcome', labelNames: ['outcome'], registers: [this.registry] });
  readonly oversizePackets = new Counter({
    name: 'splitoculo_oversize_packets_total',
    help: 'packets the broker announced larger than the edge reads (a message: discarded unread and acknowledged; anything else: connection closed)',
    registers: [this.registry],
  });
  readonly publishDenied = new Counter({
    name: 'splitoculo_publish_denied_total',
    help: 'frames the broker refused (MQTT 5 PUBACK reason >= 0x80), by reason; they stay queued and are offered again',
    labelNames: ['reason'],
    registers: [this.registry],
  });
  readonly outboxWriteErrors = new Counter({
    name: 'splitoculo_outbox_write_errors_total',
    help: 'outbox writes from timers that failed (SQLITE_BUSY, I/O), by write (ack: retried; attempt: count skipped)',
    labelNames: ['write'],
    registers: [this.registry],
  });
  readonly answerHooks = new Counter({
    name: 'splitoculo_answer_hooks_total',
    help: 'answers.command runs, by outcome (ok, failed, dropped: queue full)',
    labelNames: ['outcome'],
    registers: [this.registry],
  });
  readonly commands = new Counter({ name: 'splitoculo_commands_total', help: 'commands received, by outcome', labelNames: ['outcome'], registers: [this.registry] });
  readonly encodeSeconds = new Histogram({
    name: 'splitoculo_encode_seconds',
    help: 'preprocess + edge model + quantise time',
    buckets: [0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2],
    registers: [this.registry],
  });
  readonly publishSeconds = new Histogram({ name: 'splitoculo_publish_seconds', help: 'publish to PUBACK', buckets: [0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 15], registers: [this.registry] });
  /** The outbox's counts now; undefined while it is closed (the gauges then keep their last values). */
  queueSource: () => { rows: number; bytes: number } | undefined = () => undefined;
  readonly queueDepth: Gauge = new Gauge({
    name: 'splitoculo_queue_frames',
    help: 'frames in the outbox',
    registers: [this.registry],
    collect: () => {
      const stats = this.queueSource();
      if (stats) this.queueDepth.set(stats.rows);
    },
  });
  readonly queueBytes: Gauge = new Gauge({
    name: 'splitoculo_queue_bytes',
    help: 'frame bytes in the outbox',
    registers: [this.registry],
    collect: () => {
      const stats = this.queueSource();
      if (stats) this.queueBytes.set(stats.bytes);
    },
  });
  readonly linkUp = new Gauge({ name: 'splitoculo_link_up', help: '1 while connected to the broker', registers: [this.registry] });
}
