impl :: bincode :: Encode for NodeRecord
{
    fn encode < __E : :: bincode :: enc :: Encoder >
    (& self, encoder : & mut __E) ->core :: result :: Result < (), :: bincode
    :: error :: EncodeError >
    {
        :: bincode :: Encode :: encode(&self.node_id, encoder) ?; :: bincode
        :: Encode :: encode(&self.org, encoder) ?; :: bincode :: Encode ::
        encode(&self.node_key, encoder) ?; :: bincode :: Encode ::
        encode(&self.p2p_addr, encoder) ?; :: bincode :: Encode ::
        encode(&self.voter, encoder) ?; core :: result :: Result :: Ok(())
    }
}