export { task1Definition } from "./definition.js";
