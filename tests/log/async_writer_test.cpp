// The asynchronous line writer: whole lines, in order per producer, never blocking a producer;
// what does not fit while the output is stuck is dropped and counted, the rest is flushed.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "tlsglass/log/async_writer.hpp"

using namespace tlsglass;
using namespace std::chrono_literals;

TEST_CASE("lines from several threads reach the file whole, each thread's in order") {
  const auto path = std::filesystem::temp_directory_path() /
                    ("tlsglass-async-writer-" + std::to_string(::getpid()) + ".jsonl");
  std::filesystem::remove(path);
  {
    std::string error;
    auto writer = log::AsyncWriter::open(path.string(), error);
    REQUIRE(writer);
    std::vector<std::thread> producers;
    for (int t = 0; t < 4; ++t) {
      producers.emplace_back([&writer, t] {
        for (int i = 0; i < 1000; ++i)
          writer->write_line("{\"thread\":" + std::to_string(t) + ",\"line\":" + std::to_string(i) +
                             "}");
      });
    }
    for (auto& producer : producers) producer.join();
    writer->close();
    CHECK(writer->written() == 4000);
    CHECK(writer->dropped() == 0);
  }
  std::ifstream in(path);
  std::map<int, int> next;
  std::string line;
  int lines = 0;
  while (std::getline(in, line)) {
    int t = -1, i = -1;
    REQUIRE(std::sscanf(line.c_str(), "{\"thread\":%d,\"line\":%d}", &t, &i) == 2);
    CHECK(i == next[t]++);
    ++lines;
  }
  CHECK(lines == 4000);
  // Records name who connected where: the file is the user's alone.
  CHECK((std::filesystem::status(path).permissions() & std::filesystem::perms::others_read) ==
        std::filesystem::perms::none);
  std::filesystem::remove(path);
}

TEST_CASE("an output that cannot keep up drops lines instead of blocking the producer") {
  int pipe_fds[2];
  REQUIRE(::pipe(pipe_fds) == 0);
  log::AsyncWriterLimits limits;
  limits.max_lines = 8;
  log::AsyncWriter writer(pipe_fds[1], true, "pipe", limits);
  // A first line larger than the pipe holds: the writer thread blocks on it, nobody reads.
  REQUIRE(writer.write_line(std::string(256 * 1024, 'x')));
  std::this_thread::sleep_for(100ms);
  int accepted = 0;
  const auto before = std::chrono::steady_clock::now();
  for (int i = 0; i < 100; ++i) accepted += writer.write_line("line " + std::to_string(i));
  CHECK(std::chrono::steady_clock::now() - before < 1s);
  CHECK(accepted == 8);
  CHECK(writer.dropped() == 92);
  // Once the output drains, close() writes out everything that was accepted.
  std::string drained;
  std::thread reader([&] {
    char buffer[65536];
    for (ssize_t n; (n = ::read(pipe_fds[0], buffer, sizeof buffer)) > 0;)
      drained.append(buffer, static_cast<std::size_t>(n));
  });
  writer.close();
  reader.join();
  ::close(pipe_fds[0]);
  CHECK(drained.size() == 256 * 1024 + 1 + 8 * 7);  // "line N\n" for N = 0..7
  CHECK(drained.substr(drained.size() - 7) == "line 7\n");
}
