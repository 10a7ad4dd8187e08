export { task2Definition } from "./definition.js";
