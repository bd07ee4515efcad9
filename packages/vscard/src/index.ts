export * from './relay-close.ts';
