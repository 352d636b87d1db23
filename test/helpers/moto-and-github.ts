import { startApp, type AppOptions, type AppUnderTest } from './app-harness.js';
import { startFakeGitHub, type FakeGitHub } from './fake-github.js';
import { startMoto, type Moto } from './moto.js';

/** moto and a fake GitHub for a describe block, and the app started against them. */
export interface MotoAndGitHub {
  /** Started before the first test, stopped after the last. */
  readonly moto: Moto;
  /** Started before the first test, closed after the last; after each test it must have seen no OpenAPI violations. */
  readonly github: FakeGitHub;
  /** Starts the app against them; the app started last is closed after the test. */
  startApp(options: Omit<AppOptions, 'moto' | 'github'>): Promise<AppUnderTest>;
}

/** Registers the describe block's hooks; call it at the top of the block. */
export function useMotoAndGitHub(options: { holdEcsTasksRunning?: boolean; serialMoto?: boolean } = {}): MotoAndGitHub {
  let moto: Moto;
  let github: FakeGitHub;
  let app: AppUnderTest | undefined;

  beforeAll(async () => {
    moto = await startMoto({ serial: options.serialMoto });
    if (options.holdEcsTasksRunning) await moto.holdEcsTasksRunning();
    github = await startFakeGitHub();
  });
  afterAll(async () => {
    await github?.close();
    await moto?.stop();
  });
  afterEach(async () => {
    await app?.close();
    app = undefined;
    expect(github.openApiViolations).toEqual([]);
  });

  return {
    get moto() {
      return moto;
    },
    get github() {
      return github;
    },
    startApp: async (appOptions) => (app = await startApp({ moto, github, ...appOptions })),
  };
}
