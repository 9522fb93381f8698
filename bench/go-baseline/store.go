package main

import (
	"context"
	"encoding/json"

	"github.com/redis/go-redis/v9"

	"github.com/im-rs/http-server-go/kitex_gen/rpc"
)

// MessageStore is what the handler needs from storage; the tests use a fake.
type MessageStore interface {
	// Save adds msg to the room, scored by msg.SendTime.
	Save(ctx context.Context, room string, msg *rpc.Message) error
	// Range returns the messages at indexes start..stop (inclusive) of the
	// room, oldest first, or newest first when reverse is set.
	Range(ctx context.Context, room string, start, stop int64, reverse bool) ([]*rpc.Message, error)
}

// RedisStore keeps each room in a sorted set named after the room
// (`a:b`): score = SendTime in microseconds, member = the message as JSON.
// This is the tutorial's layout.
type RedisStore struct {
	cli *redis.Client
}

// NewRedisStore connects to Redis at addr (host:port) with go-redis's
// default pool (10 connections per GOMAXPROCS) and checks it with PING.
func NewRedisStore(ctx context.Context, addr string) (*RedisStore, error) {
	cli := redis.NewClient(&redis.Options{Addr: addr})
	if err := cli.Ping(ctx).Err(); err != nil {
		_ = cli.Close()
		return nil, err
	}
	return &RedisStore{cli: cli}, nil
}

func (s *RedisStore) Save(ctx context.Context, room string, msg *rpc.Message) error {
	member, err := json.Marshal(msg)
	if err != nil {
		return err
	}
	return s.cli.ZAdd(ctx, room, redis.Z{Score: float64(msg.SendTime), Member: member}).Err()
}

func (s *RedisStore) Range(ctx context.Context, room string, start, stop int64, reverse bool) ([]*rpc.Message, error) {
	var raw []string
	var err error
	if reverse {
		raw, err = s.cli.ZRevRange(ctx, room, start, stop).Result()
	} else {
		raw, err = s.cli.ZRange(ctx, room, start, stop).Result()
	}
	if err != nil {
		return nil, err
	}
	msgs := make([]*rpc.Message, 0, len(raw))
	for _, r := range raw {
		msg := new(rpc.Message)
		if err := json.Unmarshal([]byte(r), msg); err != nil {
			return nil, err
		}
		msgs = append(msgs, msg)
	}
	return msgs, nil
}

func (s *RedisStore) Close() error {
	return s.cli.Close()
}
