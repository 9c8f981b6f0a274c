// A scripted MQTT 3.1.1 broker, only for what a real broker cannot be made to
// do on purpose: withhold PUBACKs. It accepts one client at a time.
import { createServer, type Server, type Socket } from 'node:net';
import mqttPacket from 'mqtt-packet';

export interface ReceivedPublish {
  topic: string;
  payload: Buffer;
  messageId: number;
  acked: boolean;
}

export class PubackWithholdingBroker {
  readonly received: ReceivedPublish[] = [];
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();
  /** Decides per publish whether to answer with a PUBACK. */
  shouldAck: (publish: ReceivedPublish, index: number) => boolean = () => true;
  port = 0;
  /** MQTT 5 connects refused. */
  refusedV5 = 0;

  constructor() {
    this.#server = createServer((socket) => this.#serve(socket));
  }

  async listen(): Promise<string> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve));
    this.port = (this.#server.address() as { port: number }).port;
    return `mqtt://127.0.0.1:${this.port}`;
  }

  #serve(socket: Socket): void {
    this.#sockets.add(socket);
    socket.on('close', () => this.#sockets.delete(socket));
    socket.on('error', () => undefined);
    const parser = mqttPacket.parser({ protocolVersion: 4 });
    const send = (packet: object) => socket.write(mqttPacket.generate(packet as mqttPacket.Packet));
    parser.on('packet', (packet: mqttPacket.Packet) => {
      switch (packet.cmd) {
        case 'connect':
          // As a 3.1.1-only broker does: MQTT 5 refused with "unacceptable protocol version" (clients on auto fall back).
          if (packet.protocolVersion === 5) {
            this.refusedV5 += 1;
            send({ cmd: 'connack', returnCode: 1, sessionPresent: false });
            socket.end();
            break;
          }
          send({ cmd: 'connack', returnCode: 0, sessionPresent: false });
          break;
        case 'subscribe':
          send({ cmd: 'suback', messageId: packet.messageId, granted: packet.subscriptions.map(() => 1) });
          break;
        case 'pingreq':
          send({ cmd: 'pingresp' });
          break;
        case 'publish': {
          const publish: ReceivedPublish = { topic: packet.topic, payload: Buffer.from(packet.payload as Buffer), messageId: packet.messageId ?? 0, acked: false };
          const index = this.received.push(publish) - 1;
          if (packet.qos === 1 && this.shouldAck(publish, index)) {
            publish.acked = true;
            send({ cmd: 'puback', messageId: packet.messageId });
          }
          break;
        }
        case 'disconnect':
          socket.end();
          break;
        default:
          break;
      }
    });
    socket.on('data', (data) => parser.parse(data));
  }

  /** Cut every client connection; the server keeps listening for reconnects. */
  dropConnections(): void {
    for (const socket of this.#sockets) socket.destroy();
  }

  async close(): Promise<void> {
    for (const socket of this.#sockets) socket.destroy();
    await new Promise((resolve) => this.#server.close(resolve));
  }
}
