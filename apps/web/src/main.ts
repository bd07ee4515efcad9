import { mount } from 'svelte';
import App from './App.svelte';
import './app.css';
import { createBrowserPlatform } from './lib/adapters/browser-platform.ts';
import { parseLaunchParams } from './lib/state/launch-params.ts';
import { LendingSession } from './lib/state/lending-session.svelte.ts';

const target = document.getElementById('app');
if (!target) throw new Error('missing #app');
const session = new LendingSession({
  platform: createBrowserPlatform(),
  launch: parseLaunchParams(location.href),
  pageUrl: location.href,
});
mount(App, { target, props: { session } });
