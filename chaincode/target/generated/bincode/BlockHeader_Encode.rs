impl :: bincode :: Encode for BlockHeader
{
    fn encode < __E : :: bincode :: enc :: Encoder >
    (& self, encoder : & mut __E) ->core :: result :: Result < (), :: bincode
    :: error :: EncodeError >
    {
        :: bincode :: Encode :: encode(&self.chain_id, encoder) ?; :: bincode
        :: Encode :: encode(&self.height, encoder) ?; :: bincode :: Encode ::
        encode(&self.time_ms, encoder) ?; :: bincode :: Encode ::
        encode(&self.prev_hash, encoder) ?; :: bincode :: Encode ::
        encode(&self.tx_count, encoder) ?; :: bincode :: Encode ::
        encode(&self.tx_root, encoder) ?; :: bincode :: Encode ::
        encode(&self.result_root, encoder) ?; :: bincode :: Encode ::
        encode(&self.state_root, encoder) ?; :: bincode :: Encode ::
        encode(&self.log_root, encoder) ?; :: bincode :: Encode ::
        encode(&self.log_size, encoder) ?; :: bincode :: Encode ::
        encode(&self.proposer, encoder) ?; core :: result :: Result :: Ok(())
    }
}