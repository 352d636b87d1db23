import { Probot, Server, type ApplicationFunction, type Logger } from 'probot';
import { testPrivateKey, WEBHOOK_SECRET } from './app-key.js';
import { freePort } from './moto.js';

/** The app on a Probot server of its own, as `npm start` serves it, on a free local port. */
export async function serveOnProbot(app: ApplicationFunction, log: Logger): Promise<{ url: string; server: Server }> {
  const port = await freePort();
  const server = new Server({
    Probot: Probot.defaults({ appId: 1, privateKey: testPrivateKey(), secret: WEBHOOK_SECRET, log }),
    host: '127.0.0.1',
    port,
    log,
  });
  await server.load(app);
  await server.start();
  return { url: `http://127.0.0.1:${port}`, server };
}
