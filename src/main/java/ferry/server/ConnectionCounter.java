package ferry.server;

/** Hands out connection numbers: 1, 2, 3 ... in the order they are asked for. */
interface ConnectionCounter {
    long next();
}
