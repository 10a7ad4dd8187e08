export { task3Definition } from "./definition.js";
