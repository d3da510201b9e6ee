-- CreateTable
CREATE TABLE "sink_checkpoints" (
    "sink" TEXT NOT NULL,
    "tenant_id" TEXT NOT NULL,
    "last_seq" BIGINT NOT NULL,
    "updated_at" DATETIME NOT NULL,

    PRIMARY KEY ("sink", "tenant_id")
);

-- CreateTable
CREATE TABLE "dead_letters" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "sink" TEXT NOT NULL,
    "tenant_id" TEXT NOT NULL,
    "seq" BIGINT NOT NULL,
    "event_id" TEXT NOT NULL,
    "error" TEXT NOT NULL,
    "attempts" INTEGER NOT NULL,
    "created_at" DATETIME NOT NULL
);

-- CreateIndex
CREATE INDEX "dead_letters_sink_created_at_idx" ON "dead_letters"("sink", "created_at");
