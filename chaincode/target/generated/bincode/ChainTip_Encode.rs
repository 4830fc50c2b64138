impl :: bincode :: Encode for ChainTip
{
    fn encode < __E : :: bincode :: enc :: Encoder >
    (& self, encoder : & mut __E) ->core :: result :: Result < (), :: bincode
    :: error :: EncodeError >
    {
        :: bincode :: Encode :: encode(&self.chain_id, encoder) ?; :: bincode
        :: Encode :: encode(&self.height, encoder) ?; :: bincode :: Encode ::
        encode(&self.time_ms, encoder) ?; :: bincode :: Encode ::
        encode(&self.block_hash, encoder) ?; :: bincode :: Encode ::
        encode(&self.state_root, encoder) ?; :: bincode :: Encode ::
        encode(&self.log, encoder) ?; core :: result :: Result :: Ok(())
    }
}