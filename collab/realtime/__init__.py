"""Real-time transport: Socket.IO over gevent, rooms shared across instances through Redis."""
