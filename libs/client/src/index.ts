/** Typed client over the WebSocket protocol and mediasoup-client. */
export {};
