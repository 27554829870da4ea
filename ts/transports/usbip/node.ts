/**
 * Connections to USB/IP servers from Node: TCP for `host[:port]`, and for a
 * bridge's `ws://` URL the platform's WebSocket (Node 22 and newer) or the
 * `ws` package's (Node 20).
 * @module
 */
import type { UsbipConnector } from './stream.js';
import { connectTcp } from './tcp.js';
import { connectWebSocket, type WebSocketConstructor } from './websocket.js';

/** The connector the Node runner gives the usbip transport. */
export const connectFromNode: UsbipConnector = async (address, handlers) => {
  if (address.kind === 'tcp') return connectTcp(address, handlers);
  const platform = (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
  const WebSocketClass = platform ?? ((await import('ws')).WebSocket as unknown as WebSocketConstructor);
  return connectWebSocket(address, handlers, WebSocketClass);
};
