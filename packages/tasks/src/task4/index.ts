export { task4Definition } from "./definition.js";
