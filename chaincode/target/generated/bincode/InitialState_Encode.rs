impl :: bincode :: Encode for InitialState
{
    fn encode < __E : :: bincode :: enc :: Encoder >
    (& self, encoder : & mut __E) ->core :: result :: Result < (), :: bincode
    :: error :: EncodeError >
    {
        :: bincode :: Encode :: encode(&self.chain_id, encoder) ?; :: bincode
        :: Encode :: encode(&self.genesis_time_ms, encoder) ?; :: bincode ::
        Encode :: encode(&self.params, encoder) ?; :: bincode :: Encode ::
        encode(&self.orgs, encoder) ?; :: bincode :: Encode ::
        encode(&self.nodes, encoder) ?; core :: result :: Result :: Ok(())
    }
}