// Core implements the glue API and kit (namespace Stackscope.Glue) and uses them throughout.
global using Stackscope.Glue;
